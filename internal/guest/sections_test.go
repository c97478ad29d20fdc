package guest

import "testing"

func TestSectionsOfCombinedReadOutput(t *testing.T) {
	out := SectionMarker("a", "conf") + "\nline 1\nline 2\n" +
		SectionMarker("b", "conf") + "\nother recipe\n" +
		SectionMarker("a", "pid") + "\n42\n" +
		SectionMarker("a", "end") + "\n"
	got := Sections(out, "a")
	if got["conf"] != "line 1\nline 2" || got["pid"] != "42" || len(got) != 3 {
		t.Fatalf("%q", got)
	}
	if b := Sections(out, "b"); b["conf"] != "other recipe" || len(b) != 1 {
		t.Fatalf("%q", b)
	}
}
