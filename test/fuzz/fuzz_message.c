/* Message headers and the frame-less length probe, for FUZZ_PROTO: the probe
 * must agree with a full header read about where input is complete. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    thrift_codec_options_t opts;
    thrift_codec_options_init(&opts);
    opts.strict_read = size > 0 && (data[0] & 1);
    thrift_message_header_t hdr;
    size_t used = 0;
    thrift_status_t st = thrift_decode_message_header(FUZZ_PROTO, data, size, &opts, &hdr, &used, NULL);
    if (st == THRIFT_OK && (used > size || hdr.name_len > size))
        abort();
    size_t message_len = 0;
    st = thrift_probe_message(FUZZ_PROTO, data, size, &opts, &message_len, NULL);
    if (st == THRIFT_OK && (message_len == 0 || message_len > size))
        abort();
    return 0;
}
