// Package cli wires the daxkv commands. It lives apart from package main so
// that tests can run whole command lines in-process and check stdout, stderr
// and the exit status.
//
// Adding a command: write newXCommand(a *app) *cobra.Command in its own
// file, add it to commands below, read settings with a.v (flags, DAXKV_*
// environment and daxkv.yaml already merged), get the region path with
// a.regionPath(), and print with a.emit so --json works.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/daxkv/daxkv/flush"
)

// Exit statuses.
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed
	ExitUsage = 2 // wrong flags or arguments; usage was printed
)

// commands builds every subcommand. Order does not matter: cobra sorts them.
var commands = []func(*app) *cobra.Command{
	newVersionCommand,
	newDoctorCommand,
	newInitCommand,
	newPutCommand,
	newGetCommand,
	newDelCommand,
	newScanCommand,
	newLoadCommand,
	newVerifyCommand,
	newStatsCommand,
	newCheckCommand,
	newSnapshotCommand,
	newBranchCommand,
	newCloneCommand,
	newBenchCommand,
}

// app is the state one command line runs with.
type app struct {
	stdout, stderr io.Writer
	root           *cobra.Command

	// Set by setup once flags and arguments have been accepted.
	cmd        *cobra.Command
	v          *viper.Viper
	configFile string // the config file that was read, "" for none
	started    bool   // errors after this point are runtime errors, not usage errors
}

// Main runs the command line in os.Args and returns the exit status.
// Interrupts cancel the context, so long commands can stop cleanly.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// Execute runs one command line and returns its exit status. Runtime errors
// print one line on stderr; wrong flags or arguments also print the usage.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return newApp(stdout, stderr).run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	a.root.SetArgs(args)
	cmd, err := a.root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if !a.started || errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "daxkv: %v\n\n", err)
		if cmd == nil {
			cmd = a.root
		}
		fmt.Fprint(a.stderr, cmd.UsageString())
		return ExitUsage
	}
	fmt.Fprintf(a.stderr, "daxkv: %s\n", message(err))
	return ExitError
}

// usageError is a wrong combination of flags or arguments found by a
// command's RunE (cobra checks only one flag at a time): it prints the
// usage and exits with ExitUsage, like the errors cobra finds itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// message renders a runtime error as one line. Store errors carry their
// sentinel's "daxkv: " prefix, which the line already starts with.
func message(err error) string {
	s := oneLine(err.Error())
	s = strings.TrimPrefix(s, "daxkv: ")
	return strings.ReplaceAll(s, ": daxkv: ", ": ")
}

// NewRootCommand returns the daxkv command tree writing to stdout and
// stderr, for callers that drive cobra themselves (documentation
// generators, tests). Execute adds the exit status convention on top.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	return newApp(stdout, stderr).root
}

func newApp(stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "daxkv",
		Short: "daxkv: an embedded key-value store for persistent memory",
		Long: `daxkv keeps values in a memory-mapped DAX region (pmem, CXL memory, or a
file on tmpfs as emulated pmem) and makes them durable with cache-line
flushes instead of write and fsync.

Settings come from, highest first: flags, DAXKV_* environment variables
(DAXKV_PATH, DAXKV_JSON, DAXKV_FLUSH, ...), the config file, defaults.
The config file is --config FILE (or DAXKV_CONFIG), else ./daxkv.yaml,
else $XDG_CONFIG_HOME/daxkv/daxkv.yaml (XDG_CONFIG_HOME defaults to
~/.config). Its keys are the long flag names, e.g. "path: /dev/shm/kv".`,
		SilenceErrors: true, // Execute prints errors its own way
		SilenceUsage:  true,
		// Subcommands must not define their own PersistentPreRunE: it would
		// replace this one.
		PersistentPreRunE: a.setup,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)

	pf := root.PersistentFlags()
	pf.StringP("path", "p", "", "region: a file (emulated pmem on tmpfs, or an fsdax file) or a devdax device")
	pf.Bool("json", false, "print one JSON object instead of text")
	pf.String("config", "", "config file (default ./daxkv.yaml, then $XDG_CONFIG_HOME/daxkv/daxkv.yaml)")
	pf.String("flush", "auto", "flush mode, to override detection: "+strings.Join(flush.Modes(), ", "))

	for _, newCmd := range commands {
		root.AddCommand(newCmd(a))
	}
	a.root = root
	return a
}

// setup runs once cobra has accepted the flags and arguments, before the
// command's RunE.
func (a *app) setup(cmd *cobra.Command, _ []string) error {
	a.started = true
	a.cmd = cmd
	if isBuiltin(cmd) {
		// help and completion must work even with a broken config file.
		return nil
	}
	return a.loadConfig(cmd)
}

// isBuiltin reports whether cmd is one of cobra's own commands.
func isBuiltin(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return true
		}
	}
	return false
}

// loadConfig merges flags, DAXKV_* environment and the config file into
// a.v. Viper's own precedence is the one we document: a flag the user set,
// then the environment, then the file, then the flag's default.
func (a *app) loadConfig(cmd *cobra.Command) error {
	v := viper.New()
	v.SetEnvPrefix("DAXKV")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}

	file := v.GetString("config") // --config, then DAXKV_CONFIG
	if file == "" {
		var err error
		if file, err = findConfig(); err != nil {
			return err
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml") // whatever the file is called
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		if err := checkConfigKeys(v, a.root, file); err != nil {
			return err
		}
	}
	a.v = v
	a.configFile = file
	return nil
}

// findConfig returns the first daxkv.yaml in the search path, or "".
func findConfig() (string, error) {
	dirs := []string{"."}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		dirs = append(dirs, filepath.Join(xdg, "daxkv"))
	}
	for _, dir := range dirs {
		name := filepath.Join(dir, "daxkv.yaml")
		fi, err := os.Stat(name)
		switch {
		case err == nil && fi.Mode().IsRegular():
			return name, nil
		case err == nil:
			return "", fmt.Errorf("config file %s: not a regular file", name)
		case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
			// A directory we may not search (another user's HOME under
			// sudo -u) holds no config for us. A file we can see but not
			// read still fails, in ReadInConfig.
		default:
			return "", fmt.Errorf("config file: %w", err)
		}
	}
	return "", nil
}

// checkConfigKeys rejects keys that no command knows, so a typo in the
// config file is reported instead of silently ignored. One file serves every
// command, so a key is valid if any command has a flag of that name.
func checkConfigKeys(v *viper.Viper, root *cobra.Command, file string) error {
	known := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { known[f.Name] = true }
		c.PersistentFlags().VisitAll(add)
		c.LocalFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	delete(known, "help")
	delete(known, "config")
	for _, k := range v.AllKeys() {
		if v.InConfig(k) && !known[k] {
			return fmt.Errorf("config file %s: unknown key %q", file, k)
		}
	}
	return nil
}

// source says where the setting behind flag name came from, for messages
// that must tell the user what to fix.
func (a *app) source(name string) string {
	if f := a.cmd.Flags().Lookup(name); f != nil && f.Changed {
		return "--" + name
	}
	env := "DAXKV_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if os.Getenv(env) != "" {
		return env
	}
	if a.configFile != "" && a.v.InConfig(name) {
		return a.configFile
	}
	return "default"
}

// settingLabel names a setting the way the user gave it, for error
// messages: "--flush x", "DAXKV_FLUSH=x", "flush: x in daxkv.yaml".
func (a *app) settingLabel(name string) string {
	value := a.v.GetString(name)
	switch src := a.source(name); {
	case src == "default":
		return name
	case strings.HasPrefix(src, "--"):
		return src + " " + value
	case strings.HasPrefix(src, "DAXKV_"):
		return src + "=" + value
	default:
		return fmt.Sprintf("%s: %s in %s", name, value, src)
	}
}

// path returns the region path setting ("" when none), with a leading ~/
// expanded, since the environment and the config file get no shell.
func (a *app) path() string {
	p := a.v.GetString("path")
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, rest)
		}
	}
	return p
}

// regionPath returns the region path, for commands that require one.
func (a *app) regionPath() (string, error) {
	p := a.path()
	if p == "" {
		return "", errors.New("no region path: give --path, DAXKV_PATH or path: in daxkv.yaml")
	}
	return p, nil
}

// flushMode parses the flush setting. It returns the requested mode (Auto
// unless forced) and where the setting came from; a bad name is the user's
// to fix, so the error says where it was given.
func (a *app) flushMode() (flush.Mode, string, error) {
	m, err := flush.ParseMode(a.v.GetString("flush"))
	if err != nil {
		return flush.Auto, "", fmt.Errorf("%s: %w", a.settingLabel("flush"), err)
	}
	return m, a.source("flush"), nil
}

// oneLine folds a multi-line error message onto one line.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}
