package testplugin

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the name of every fault knob in the environment.
const EnvPrefix = "BATON_TEST_PLUGIN_"

// Environment variables of the fault knobs (set them in a catalog entry's env).
const (
	// EnvCrashOnCall=N exits the process with status 2 on its Nth database call.
	EnvCrashOnCall = EnvPrefix + "CRASH_ON_CALL"
	// EnvHangAtStart=1 sleeps for ever before serving, so the host's start timeout fires.
	EnvHangAtStart = EnvPrefix + "HANG_AT_START"
	// EnvSlowCalls=duration delays every database call, honouring its context.
	EnvSlowCalls = EnvPrefix + "SLOW_CALLS"
	// EnvVersion=vX.Y.Z reports that version; "none" reports none.
	EnvVersion = EnvPrefix + "VERSION"
	// EnvGarbageStdout=1 prints junk where go-plugin expects its handshake line.
	EnvGarbageStdout = EnvPrefix + "GARBAGE_STDOUT"
	// EnvMultiplex=0 serves protocol 5 only (dbplugin.Serve) instead of multiplexing.
	EnvMultiplex = EnvPrefix + "MULTIPLEX"
	// EnvFailUpdateUser=1 makes every UpdateUser fail, for rotation-failure tests.
	EnvFailUpdateUser = EnvPrefix + "FAIL_UPDATE_USER"
)

// Connection config keys that set knobs for one database instance (they override the
// environment for that instance).
const (
	// ConfigCrashOnCall=N exits the process on the Nth call to this instance after the
	// Initialize that set it.
	ConfigCrashOnCall = "crash_on_call"
	// ConfigSlowCalls is a duration ("250ms") added to every call of this instance.
	ConfigSlowCalls = "slow_calls"
	// ConfigFailUpdateUser makes this instance's UpdateUser fail.
	ConfigFailUpdateUser = "fail_update_user"
)

// VersionNone, as the version knob, makes the plugin report no version at all.
const VersionNone = "none"

// Knobs are the process-wide fault settings, read once from the environment.
type Knobs struct {
	// CrashOnCall > 0 exits the process with status 2 on its Nth database call (Initialize,
	// NewUser, UpdateUser, DeleteUser of any instance; Type and Close do not count).
	CrashOnCall int
	// HangAtStart makes Main sleep for ever before serving.
	HangAtStart bool
	// SlowCalls delays every database call.
	SlowCalls time.Duration
	// Version is reported through PluginVersion: "" means the real Version, VersionNone none.
	Version string
	// GarbageStdout makes Main print junk to stdout before serving.
	GarbageStdout bool
	// Multiplex serves with dbplugin.ServeMultiplex (true by default) instead of Serve.
	Multiplex bool
	// FailUpdateUser makes every UpdateUser fail.
	FailUpdateUser bool
}

// DefaultKnobs is a well-behaved plugin: multiplexed, reporting Version, no faults.
func DefaultKnobs() Knobs { return Knobs{Multiplex: true} }

// KnobsFromEnv reads the knobs through lookup (os.LookupEnv in a main). A malformed value is
// an error naming the variable.
func KnobsFromEnv(lookup func(string) (string, bool)) (Knobs, error) {
	k := DefaultKnobs()
	var err error
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
	}
	if v, ok := get(EnvCrashOnCall); ok {
		if k.CrashOnCall, err = parseCount(EnvCrashOnCall, v); err != nil {
			return Knobs{}, err
		}
	}
	if v, ok := get(EnvSlowCalls); ok {
		if k.SlowCalls, err = parseDuration(EnvSlowCalls, v); err != nil {
			return Knobs{}, err
		}
	}
	if v, ok := get(EnvVersion); ok {
		k.Version = v
	}
	for name, dst := range map[string]*bool{
		EnvHangAtStart:    &k.HangAtStart,
		EnvGarbageStdout:  &k.GarbageStdout,
		EnvMultiplex:      &k.Multiplex,
		EnvFailUpdateUser: &k.FailUpdateUser,
	} {
		if v, ok := get(name); ok {
			if *dst, err = parseBool(name, v); err != nil {
				return Knobs{}, err
			}
		}
	}
	return k, nil
}

// reportedVersion is the version PluginVersion reports, "" for none.
func (k Knobs) reportedVersion() string {
	switch k.Version {
	case "":
		return Version
	case VersionNone:
		return ""
	default:
		return k.Version
	}
}

func parseCount(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q is not a call count: use a whole number, 0 for never", name, v)
	}
	return n, nil
}

func parseDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q is not a duration: use a Go duration such as 250ms", name, v)
	}
	return d, nil
}

func parseBool(name, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean: use 1, 0, true or false", name, v)
	}
	return b, nil
}

// configKnobs are the knobs a connection config may set for one instance.
type configKnobs struct {
	crashOnCall    int
	slowCalls      time.Duration
	failUpdateUser bool
}

// parseConfigKnobs reads the instance knobs from a connection config, whose values arrive
// through google.protobuf.Struct: numbers as float64, or as strings typed by an operator.
func parseConfigKnobs(cfg map[string]interface{}, defaults Knobs) (configKnobs, error) {
	k := configKnobs{slowCalls: defaults.SlowCalls, failUpdateUser: defaults.FailUpdateUser}
	if raw, ok := cfg[ConfigCrashOnCall]; ok {
		switch v := raw.(type) {
		case float64:
			if v < 0 || v != float64(int(v)) {
				return configKnobs{}, fmt.Errorf("%s=%v is not a call count: use a whole number", ConfigCrashOnCall, v)
			}
			k.crashOnCall = int(v)
		case string:
			n, err := parseCount(ConfigCrashOnCall, v)
			if err != nil {
				return configKnobs{}, err
			}
			k.crashOnCall = n
		default:
			return configKnobs{}, fmt.Errorf("%s has type %T: use a number", ConfigCrashOnCall, raw)
		}
	}
	if raw, ok := cfg[ConfigSlowCalls]; ok {
		s, ok := raw.(string)
		if !ok {
			return configKnobs{}, fmt.Errorf("%s has type %T: use a duration string such as \"250ms\"", ConfigSlowCalls, raw)
		}
		d, err := parseDuration(ConfigSlowCalls, s)
		if err != nil {
			return configKnobs{}, err
		}
		k.slowCalls = d
	}
	if raw, ok := cfg[ConfigFailUpdateUser]; ok {
		switch v := raw.(type) {
		case bool:
			k.failUpdateUser = v
		case string:
			b, err := parseBool(ConfigFailUpdateUser, v)
			if err != nil {
				return configKnobs{}, err
			}
			k.failUpdateUser = b
		default:
			return configKnobs{}, fmt.Errorf("%s has type %T: use true or false", ConfigFailUpdateUser, raw)
		}
	}
	return k, nil
}
