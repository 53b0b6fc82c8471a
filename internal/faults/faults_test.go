package faults

import "testing"

func TestArm(t *testing.T) {
	if err := Arm("rotate-root:after-wal, rotate-root:after-commit"); err != nil {
		t.Fatal(err)
	}
	if !armed[RotateAfterWAL] || !armed[RotateAfterCommit] || armed[RotateAfterDBUpdate] {
		t.Fatalf("armed = %v", armed)
	}
	if err := Arm("rotate-root:typo"); err == nil {
		t.Fatal("unknown point accepted")
	}
	clear(armed)
	Hit(RotateAfterWAL) // not armed: returns
}
