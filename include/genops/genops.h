// GenOps SDK: everything an application includes.
//
//   #include "genops/genops.h"
//
// See adapter.h (instrument_traceloop, auto_instrument, track_operation), operation.h (the
// EnhancedSpan), config.h (every parameter), validation.h (validate_setup).
#ifndef GENOPS_GENOPS_H_
#define GENOPS_GENOPS_H_

#include "genops/adapter.h"
#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/config.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/operation.h"
#include "genops/usage.h"
#include "genops/validation.h"

#endif  // GENOPS_GENOPS_H_
