package ecsscale

import "time"

// Interval is the time Run waits between two ticks.
func (e *Events) Interval() time.Duration { return e.interval() }
