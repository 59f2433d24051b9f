// Command intake runs the intake service: registration over every channel,
// the public progress query, the staff view and history import.
package main

import (
	"context"
	"os"

	"xinfang.io/services/intake"
	"xinfang.io/services/kit/app"
)

func main() {
	var s intake.Settings
	os.Exit(app.Main("intake", s.Register, func(ctx context.Context, a *app.App) error {
		s.Now = a.Clock.Now // real time, or the dev clock of make demo
		_, err := intake.Setup(ctx, a, s)
		return err
	}))
}
