package command

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c, err := New("catalog.put", "id-1", SourceAPI, at, map[string]string{"name": "pg"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]string
	if err := got.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if got.ID != "id-1" || got.Type != "catalog.put" || !got.Time.Equal(at) || p["name"] != "pg" || got.Source != SourceAPI {
		t.Fatalf("round trip changed the command: %+v %v", got, p)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not json", "\x00garbage", ErrMalformed},
		{"no type", `{"v":1,"id":"x"}`, ErrMalformed},
		{"no id", `{"v":1,"type":"t"}`, ErrMalformed},
		{"no version", `{"id":"x","type":"t"}`, ErrMalformed},
		{"future version", `{"v":99,"id":"x","type":"t"}`, ErrUnsupportedVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestNewRefusesEmpty(t *testing.T) {
	if _, err := New("", "id", SourceAPI, time.Now(), nil); err == nil {
		t.Fatal("empty type accepted")
	}
	if _, err := New("t", "", SourceAPI, time.Now(), nil); err == nil {
		t.Fatal("empty id accepted")
	}
}

func TestUnmarshalKeepsTheDecodeError(t *testing.T) {
	_, err := Unmarshal([]byte("\x00garbage"))
	var syn *json.SyntaxError
	if !errors.Is(err, ErrMalformed) || !errors.As(err, &syn) {
		t.Fatalf("Unmarshal = %v, want ErrMalformed wrapping the *json.SyntaxError", err)
	}
}
