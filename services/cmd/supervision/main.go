// Command supervision runs the supervision service: the case state machine,
// the statutory clocks and 督办 escalation, and the department work API.
package main

import (
	"context"
	"os"
	"time"

	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/supervision"
)

func main() {
	os.Exit(app.Main("supervision", nil, build))
}

func build(ctx context.Context, a *app.App) error {
	// Real time, or the dev clock of make demo: then the timer worker polls
	// as often in dev time as it would in real time (30 s), so reminders
	// and 督办 fire on the accelerated days.
	speed, _, _ := a.Config.DevClock()
	_, err := supervision.Wire(ctx, a, supervision.Options{
		Clock: a.Clock, TimerPoll: clock.Poll(30*time.Second, speed, 100*time.Millisecond),
	})
	return err
}
