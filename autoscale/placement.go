package autoscale

import (
	"errors"
	"fmt"
)

// MaxRunTaskCount is the most tasks one RunTask call starts (its count, 1-10).
const MaxRunTaskCount = 10

// The reasons RunTask gives, per container instance, for a task it could not place
// (Failure.Reason; ECS's "API failure reasons").
const (
	ReasonResourceCPU    = "RESOURCE:CPU"
	ReasonResourceMemory = "RESOURCE:MEMORY"
)

// ErrNoContainerInstances is RunTask's answer on a cluster with no container instance to
// place on: an error for the whole call, not a failure per task.
var ErrNoContainerInstances = errors.New("No Container Instances were found in your cluster.")

// BinpackField is the field of a binpack placement strategy: tasks go to the instance with
// the least of it remaining.
type BinpackField string

const (
	BinpackCPU    BinpackField = "cpu"
	BinpackMemory BinpackField = "memory"
)

// Valid reports whether f is a field binpack accepts.
func (f BinpackField) Valid() bool { return f == BinpackCPU || f == BinpackMemory }

// Remaining is a container instance's unreserved CPU units and memory (MiB), as ECS reports
// its remainingResources.
type Remaining struct {
	CPU       int
	MemoryMiB int
}

// PlacementFailure is a container instance that could not take a task, and why:
// ReasonResourceCPU when its CPU is short, else ReasonResourceMemory. ECS documents each
// reason (RESOURCE:CPU: the CPU the task asks for is not available on the instance;
// RESOURCE:MEMORY: the memory) but not which one an instance short of both gives; here CPU
// is checked first, in the order ECS's placement docs list the requirements (CPU, GPU,
// memory, ports) and its failure-reasons page lists the reasons. The simulator and the ECS
// fake (internal/awsfake) both answer with it, so they agree. Instance is its index in the slice
// given to Place.
type PlacementFailure struct {
	Instance int
	Reason   string
}

// Binpack places one task of cpu units and mem MiB with the binpack strategy on field: the
// instance, of those given, with the least of field remaining that fits the task, then the
// least of the other resource, then the first. It returns its index, or -1 and the reason
// the task records: RESOURCE:MEMORY when some instance has the CPU (so it is memory it
// lacks), else RESOURCE:CPU; "" when there is no instance (ErrNoContainerInstances). An
// instance with negative remaining resources (one tasks may not go on) never fits and
// counts for neither reason. The simulator's dispatcher places with it; it changes nothing.
func Binpack(instances []Remaining, cpu, mem int, field BinpackField) (best int, reason string) {
	best = -1
	var bf, bo int // the best instance's remaining field and other resource
	cpuFits := false
	for i, r := range instances {
		if r.CPU < cpu {
			continue
		}
		cpuFits = true
		if r.MemoryMiB < mem {
			continue
		}
		f, o := r.CPU, r.MemoryMiB
		if field == BinpackMemory {
			f, o = o, f
		}
		if best < 0 || f < bf || (f == bf && o < bo) {
			best, bf, bo = i, f, o
		}
	}
	switch {
	case best >= 0:
		return best, ""
	case len(instances) == 0:
		return -1, ""
	case cpuFits:
		return -1, ReasonResourceMemory
	}
	return -1, ReasonResourceCPU
}

// Place is RunTask's placement of count tasks (1..MaxRunTaskCount) of cpu units and mem MiB
// on container instances with the given remaining resources, binpacked on field (Binpack),
// each task taking its share before the next is placed. It returns the index of the
// instance of each task placed, in order; when some could not be placed (count minus
// len(placed) of them), failures gives each instance's reason once, as RunTask's failures
// do. instances is not changed. The errors are RunTask's for the whole call: a count out of
// range, an unknown field, ErrNoContainerInstances (which the ECS fake answers, as RunTask
// does, with one MISSING failure without an ARN).
func Place(instances []Remaining, cpu, mem, count int, field BinpackField) (placed []int, failures []PlacementFailure, err error) {
	switch {
	case count < 1 || count > MaxRunTaskCount:
		return nil, nil, fmt.Errorf("count %d: must be between 1 and %d", count, MaxRunTaskCount)
	case !field.Valid():
		return nil, nil, fmt.Errorf("binpack field %q: must be %q or %q", field, BinpackCPU, BinpackMemory)
	case len(instances) == 0:
		return nil, nil, ErrNoContainerInstances
	}
	left := append([]Remaining(nil), instances...)
	for range count {
		i, _ := Binpack(left, cpu, mem, field)
		if i < 0 {
			for k, r := range left {
				reason := ReasonResourceCPU
				if r.CPU >= cpu {
					reason = ReasonResourceMemory
				}
				failures = append(failures, PlacementFailure{Instance: k, Reason: reason})
			}
			return placed, failures, nil
		}
		left[i].CPU -= cpu
		left[i].MemoryMiB -= mem
		placed = append(placed, i)
	}
	return placed, nil, nil
}
