// Command daxkv operates daxkv stores from the shell: diagnose the machine
// (doctor), and, as the store lands, create, read, write, snapshot and
// branch stores.
package main

import (
	"os"

	"github.com/daxkv/daxkv/cmd/daxkv/internal/cli"
)

func main() { os.Exit(cli.Main()) }
