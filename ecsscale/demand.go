package ecsscale

// Notifier is a Queue that signals new demand, so a Controller decides at once on a run
// queued (autoscale.Controller.Wake) instead of at its next interval.
type Notifier interface {
	// Notify returns the channel that receives a value when demand arrives: a run
	// enqueued, or one whose RunTask failed for capacity. It is the same channel on every
	// call. Sends never block and coalesce: the channel has a buffer of one and a send
	// finds it full while a value waits (see Signal).
	Notify() <-chan struct{}
}

// Demand returns the configured Queue's Notify channel, nil when the Queue is not a
// Notifier (a nil channel never receives: the Controller then decides on its interval).
func (c *Cluster) Demand() <-chan struct{} {
	if n, ok := c.cfg.Queue.(Notifier); ok {
		return n.Notify()
	}
	return nil
}

// Signal is a Notifier's channel: Send never blocks, and sends while a value waits to be
// received are one value. The zero Signal is not usable; use NewSignal.
type Signal struct{ ch chan struct{} }

// NewSignal returns a Signal.
func NewSignal() Signal { return Signal{ch: make(chan struct{}, 1)} }

// Send signals, without blocking.
func (s Signal) Send() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// Notify returns the channel Send signals on.
func (s Signal) Notify() <-chan struct{} { return s.ch }
