// Command routing is the routing service: it routes registered petitions by
// the county's rules and serves preview, rules and manual re-routing.
package main

import (
	"context"
	"os"

	"xinfang.io/services/kit/app"
	"xinfang.io/services/routing"
)

func main() {
	os.Exit(app.Main("routing", nil, func(ctx context.Context, a *app.App) error {
		_, err := routing.Build(ctx, a, a.Clock.Now)
		return err
	}))
}
