// Package chaos is the fault-injection harness: a simulated network and
// clock that whole enterprises of replicas run over in one process, a
// workload whose every write is recorded with what its client read, fault
// schedules drawn from one seed, and checkers of the guarantees of
// DESIGN.md. The same seed and code replay the same run.
package chaos
