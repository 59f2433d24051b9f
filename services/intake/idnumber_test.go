package intake

import (
	"strings"
	"testing"
	"time"
)

var today = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// withCheck completes 17 digits with their GB 11643 check character.
func withCheck(first17 string) string {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return first17 + string(idCheck[sum%11])
}

func TestCheckIDNumber(t *testing.T) {
	valid := withCheck("33052319800101002") // 安吉县, born 1980-01-01
	if err := CheckIDNumber(valid, today); err != nil {
		t.Fatalf("valid %s: %v", valid, err)
	}
	// The published example number of GB 11643 (check character X).
	if err := CheckIDNumber("11010519491231002X", today); err != nil {
		t.Fatalf("standard example: %v", err)
	}
	wrongCheck := valid[:17] + map[bool]string{true: "0", false: "1"}[valid[17] != '0']
	cases := map[string]string{
		"123":                          "18 characters",
		"33052319800101002":            "18 characters",
		"3305231980010100AX":           "digits",
		wrongCheck:                     "check digit",
		withCheck("33052319801301002"): "birth date",
		withCheck("33052320990101002"): "birth date",
		withCheck("03052319800101002"): "region code",
		"11010519491231002x":           "check digit", // lower case is normalized by callers, not here
	}
	for in, want := range cases {
		err := CheckIDNumber(in, today)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckIDNumber(%q) = %v, want %q", in, err, want)
		}
		if err != nil && len(in) == 18 && strings.Contains(err.Error(), in) {
			t.Errorf("error repeats the number: %v", err)
		}
	}
	if NormalizeIDNumber(" 11010519491231002x ") != "11010519491231002X" {
		t.Fatal("normalize")
	}
}

func FuzzCheckIDNumber(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "330523198001010020", "", "x", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckIDNumber(s, today)
		if err != nil {
			if len(s) >= 6 && strings.Contains(err.Error(), s) {
				t.Fatalf("error repeats input: %v", err)
			}
			return
		}
		// Anything accepted is 18 characters with a matching check character.
		if len(s) != 18 || withCheck(s[:17]) != s {
			t.Fatalf("accepted %q", s)
		}
	})
}
