package casemachine

import (
	"time"

	"xinfang.io/county"
)

// Env is what a transition needs from outside: the county's rules in force
// (read once per unit of work), the current instant and an event id source.
type Env struct {
	Config *county.Config
	Now    time.Time
	NewID  func() string
}

// startClock starts a calendar-day clock of n days on start. The due date
// comes from the county calendar: the start day is not counted and a period
// ending on a holiday ends on the next working day.
func (c *Case) startClock(cfg *county.Config, k ClockKind, start county.Date, n int) *Clock {
	c.Clocks = append(c.Clocks, Clock{Kind: k, Start: start, Days: n, Unit: "days",
		Due: cfg.Calendar.AddDays(start, n), Status: ClockRunning})
	return &c.Clocks[len(c.Clocks)-1]
}

// startWorkingDayClock starts a clock of n working days on start.
func (c *Case) startWorkingDayClock(cfg *county.Config, k ClockKind, start county.Date, n int) *Clock {
	c.Clocks = append(c.Clocks, Clock{Kind: k, Start: start, Days: n, Unit: "working-days",
		Due: cfg.Calendar.AddWorkingDays(start, n), Status: ClockRunning})
	return &c.Clocks[len(c.Clocks)-1]
}

// recompute sets Due after an extension or a pause: the whole period
// (statutory days + extension + days not counted) from the start, under the
// calendar, so an extended clock ends where one of that length would.
func (cl *Clock) recompute(cfg *county.Config) {
	cl.Due = cfg.Calendar.AddDays(cl.Start, cl.Days+cl.ExtendedDays+cl.Paused)
}
