// Package cputime reads the CPU time the process has used, for benchmarks
// that report it beside wall time: on a shared machine wall time also
// counts the time other processes hold the cores, CPU time does not.
package cputime
