package testplugin

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKnobsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Knobs
		wantErr string
	}{
		{"defaults", nil, Knobs{Multiplex: true}, ""},
		{"blank values are unset", map[string]string{EnvCrashOnCall: " ", EnvMultiplex: ""}, Knobs{Multiplex: true}, ""},
		{"every knob", map[string]string{
			EnvCrashOnCall: "3", EnvHangAtStart: "1", EnvSlowCalls: "250ms", EnvVersion: "v9.9.9",
			EnvGarbageStdout: "true", EnvMultiplex: "0", EnvFailUpdateUser: "1",
		}, Knobs{CrashOnCall: 3, HangAtStart: true, SlowCalls: 250 * time.Millisecond, Version: "v9.9.9",
			GarbageStdout: true, Multiplex: false, FailUpdateUser: true}, ""},
		{"version none", map[string]string{EnvVersion: "none"}, Knobs{Multiplex: true, Version: VersionNone}, ""},
		{"bad count", map[string]string{EnvCrashOnCall: "two"}, Knobs{}, EnvCrashOnCall + `="two" is not a call count`},
		{"negative count", map[string]string{EnvCrashOnCall: "-1"}, Knobs{}, "is not a call count"},
		{"bad duration", map[string]string{EnvSlowCalls: "5"}, Knobs{}, EnvSlowCalls + `="5" is not a duration`},
		{"bad bool", map[string]string{EnvMultiplex: "nope"}, Knobs{}, EnvMultiplex + `="nope" is not a boolean`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KnobsFromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("KnobsFromEnv = %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("KnobsFromEnv = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestReportedVersion(t *testing.T) {
	for in, want := range map[string]string{"": Version, VersionNone: "", "v2.0.0": "v2.0.0", "garbage": "garbage"} {
		if got := (Knobs{Version: in}).reportedVersion(); got != want {
			t.Errorf("reportedVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseConfigKnobs(t *testing.T) {
	env := Knobs{SlowCalls: time.Second, FailUpdateUser: true}
	for _, tc := range []struct {
		name    string
		cfg     map[string]interface{}
		want    configKnobs
		wantErr string
	}{
		{"inherits the environment", nil, configKnobs{slowCalls: time.Second, failUpdateUser: true}, ""},
		{"overrides", map[string]interface{}{ConfigCrashOnCall: float64(2), ConfigSlowCalls: "0s", ConfigFailUpdateUser: false},
			configKnobs{crashOnCall: 2}, ""},
		{"strings from an operator", map[string]interface{}{ConfigCrashOnCall: "4", ConfigFailUpdateUser: "false"},
			configKnobs{crashOnCall: 4, slowCalls: time.Second}, ""},
		{"fractional count", map[string]interface{}{ConfigCrashOnCall: 1.5}, configKnobs{}, "crash_on_call=1.5 is not a call count"},
		{"count of the wrong type", map[string]interface{}{ConfigCrashOnCall: true}, configKnobs{}, "crash_on_call has type bool"},
		{"duration of the wrong type", map[string]interface{}{ConfigSlowCalls: float64(3)}, configKnobs{}, "slow_calls has type float64"},
		{"bad duration", map[string]interface{}{ConfigSlowCalls: "soon"}, configKnobs{}, `slow_calls="soon" is not a duration`},
		{"bad bool", map[string]interface{}{ConfigFailUpdateUser: "maybe"}, configKnobs{}, "fail_update_user"},
		{"bool of the wrong type", map[string]interface{}{ConfigFailUpdateUser: float64(1)}, configKnobs{}, "fail_update_user has type float64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfigKnobs(tc.cfg, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseConfigKnobs = %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseConfigKnobs = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
