// Command statistics runs the statistics service: the bureau's figures,
// early warnings, the Art. 41 annual report, Prometheus gauges and the
// dashboard page, all from the county's event streams.
package main

import (
	"context"
	"os"

	"xinfang.io/services/kit/app"
	"xinfang.io/services/statistics"
)

func main() {
	os.Exit(app.Main("statistics", nil, func(ctx context.Context, a *app.App) error {
		_, err := statistics.Setup(ctx, a, statistics.Settings{Now: a.Clock.Now})
		return err
	}))
}
