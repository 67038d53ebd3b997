/* dynthrift — a runtime-reflective Apache Thrift engine.  The umbrella
 * header: include this one. */
#ifndef DYNTHRIFT_H
#define DYNTHRIFT_H

#include "dynthrift/common.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"
#include "dynthrift/proto.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"
#include "dynthrift/loop.h"
#include "dynthrift/pool.h"
#include "dynthrift/gateway.h"

#define THRIFT_VERSION_STRING "0.1.0"

#endif
