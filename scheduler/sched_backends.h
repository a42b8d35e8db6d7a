/* The backends the registry in scheduler.c knows; internal to scheduler/. */
#ifndef STATEROOM_SCHED_BACKENDS_H
#define STATEROOM_SCHED_BACKENDS_H

#include "scheduler.h"

extern const struct sched_ops sched_local_ops;
extern const struct sched_ops sched_agones_ops;
extern const struct sched_ops sched_process_ops;

#endif
