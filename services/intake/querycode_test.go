package intake

import (
	"strings"
	"testing"
	"time"
)

func TestQueryCodesAreLongRandomAndTypeable(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		c := NewQueryCode()
		if len(c) != 19 || strings.Count(c, "-") != 3 {
			t.Fatalf("code %q is not 4 groups of 4", c)
		}
		canon, ok := NormalizeQueryCode(c)
		if !ok || len(canon) != 16 {
			t.Fatalf("own code %q does not normalize", c)
		}
		if strings.ContainsAny(canon, "ILOU") {
			t.Fatalf("look-alike in %q", c)
		}
		if seen[canon] {
			t.Fatalf("duplicate code after %d", i)
		}
		seen[canon] = true
	}
	c := "7K3M-9Q2P-XW4D-HB6T"
	for _, typed := range []string{"7k3m 9q2p xw4d hb6t", "7K3M9Q2PXW4DHB6T", " 7k3m-9q2p-xw4d-hb6t"} {
		if got, ok := NormalizeQueryCode(typed); !ok || got != "7K3M9Q2PXW4DHB6T" {
			t.Errorf("%q → %q %v", typed, got, ok)
		}
	}
	if got, _ := NormalizeQueryCode("0000-1111-OOOO-IiLl"); got != "0000111100001111" {
		t.Errorf("look-alikes → %q", got)
	}
	for _, bad := range []string{"", "7K3M", c + "A", "7K3M-9Q2P-XW4D-HB6U", "../etc/passwd", "７K3M-9Q2P-XW4D-HB6T"} {
		if _, ok := NormalizeQueryCode(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSimilarity(t *testing.T) {
	a := "某公司拖欠我三个月工资共计一万二千元，多次讨要无果，请求责令支付。"
	b := "某公司至今仍拖欠我三个月工资一万二千元，讨要无果，再次请求责令支付工资。"
	c := "村里道路年久失修，雨天泥泞难行，建议修缮硬化。"
	if s := Similarity(a, b); s < 70 {
		t.Errorf("same matter reworded = %d%%", s)
	}
	if s := Similarity(a, c); s > 20 {
		t.Errorf("different matters = %d%%", s)
	}
	if Similarity("欠", "欠薪") != 0 || Similarity(a, a) != 100 {
		t.Error("edge cases")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(60, 3)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if !l.allow("1.2.3.4") {
			t.Fatalf("burst request %d refused", i)
		}
	}
	if l.allow("1.2.3.4") {
		t.Fatal("fourth request allowed")
	}
	if !l.allow("5.6.7.8") {
		t.Fatal("other client refused")
	}
	now = now.Add(time.Second)
	if !l.allow("1.2.3.4") {
		t.Fatal("refill after 1s refused")
	}
}
