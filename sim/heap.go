package sim

import "time"

type eventKind uint8

const (
	evArrival eventKind = iota
	evDispatch
	evTaskStart
	evTaskEnd
	evRegistered
	evLaunchFailed
	evSpotNotice
	evReclaim
	evPoolReclaim
	evProvisioningTimeout
	evCapacityEpisode
	evWarmed
	evTick
	evSample
)

// event is one thing due at a virtual time. gen guards against stale events: an event for
// an instance or a task attempt that has since ended is dropped when its gen no longer
// matches.
type event struct {
	at   time.Duration
	seq  uint64
	kind eventKind
	job  int // workload index (arrival, task events)
	inst *instance
	pool int
	gen  uint64
}

// prio orders events due at the same time: the cloud and arrivals first, then the
// dispatcher (so tasks submitted together go out in one pass, batched), then policy ticks
// and samples (which see the cluster after the dispatcher).
func (k eventKind) prio() int {
	switch k {
	case evDispatch:
		return 1
	case evTick, evSample:
		return 2
	case evArrival, evTaskStart, evTaskEnd, evRegistered, evLaunchFailed, evSpotNotice, evReclaim,
		evPoolReclaim, evProvisioningTimeout, evCapacityEpisode, evWarmed:
	}
	return 0
}

// eventHeap is a binary min-heap on (at, prio, seq): ties go in scheduling order, which is what
// makes runs reproducible.
type eventHeap struct {
	ev  []event
	seq uint64
}

func (h *eventHeap) less(i, j int) bool {
	a, b := &h.ev[i], &h.ev[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if pa, pb := a.kind.prio(), b.kind.prio(); pa != pb {
		return pa < pb
	}
	return a.seq < b.seq
}

func (h *eventHeap) push(e event) {
	h.seq++
	e.seq = h.seq
	h.ev = append(h.ev, e)
	i := len(h.ev) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.ev[i], h.ev[p] = h.ev[p], h.ev[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	top := h.ev[0]
	n := len(h.ev) - 1
	h.ev[0] = h.ev[n]
	h.ev = h.ev[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h.ev[i], h.ev[m] = h.ev[m], h.ev[i]
		i = m
	}
	return top
}

func (h *eventHeap) len() int { return len(h.ev) }
