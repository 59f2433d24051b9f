// Command supervision runs the supervision service: the case state machine,
// the statutory clocks and 督办 escalation, and the department work API.
package main

import (
	"context"
	"os"

	"xinfang.io/services/kit/app"
	"xinfang.io/services/supervision"
)

func main() {
	os.Exit(app.Main("supervision", nil, build))
}

func build(ctx context.Context, a *app.App) error {
	_, err := supervision.Wire(ctx, a, supervision.Options{})
	return err
}
