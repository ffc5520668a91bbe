package config_test

import (
	"errors"
	"fmt"

	"github.com/virtsync/virtsync/internal/config"
)

func ExampleLoad() {
	env := func(name string) (string, bool) {
		return map[string]string{"VIRTPOS_APIKEY": "secret"}[name], name == "VIRTPOS_APIKEY"
	}
	c, err := config.Load("../../configs/demo.yaml", env)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Println("config error, exit 2:", ce)
		}
		return
	}
	fmt.Println(c.Virtpos.BaseURL, c.Jobs.Orders.Schedule, c.NATSStoreDir())
	fmt.Println(c.Redacted().Virtpos.APIKey)
	// Output:
	// http://127.0.0.1:18081/api @every 5s demo-data/nats
	// [redacted]
}
