// A oneway call: the client's call returns as soon as the request is written,
// before the server's sleep ends.
namespace py sleep

service Sleep {
  oneway void sleep(1: i32 seconds),
}
