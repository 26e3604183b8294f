package evertask_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeExampleIsTheTestedOne checks that the README's first code
// block is example_readme_test.go, byte for byte: the code a newcomer
// copies is the code CI compiles and runs (Example_readme), so the two
// cannot drift apart.
func TestReadmeExampleIsTheTestedOne(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	lang, block, ok := firstCodeBlock(string(readme))
	if !ok {
		t.Fatal("README.md has no code block")
	}
	if lang != "go" {
		t.Fatalf("README.md's first code block is %q, want the go example", lang)
	}
	if block == string(src) {
		return
	}
	got, want := strings.Split(block, "\n"), strings.Split(string(src), "\n")
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("README.md's first code block differs from example_readme_test.go at line %d:\nREADME: %q\nfile:   %q\n(copy the file into the README)", i+1, g, w)
		}
	}
}

// firstCodeBlock returns the language and the text of the first fenced
// code block of a Markdown document.
func firstCodeBlock(md string) (lang, body string, ok bool) {
	lines := strings.SplitAfter(md, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "```") {
			continue
		}
		lang = strings.TrimSpace(strings.TrimPrefix(l, "```"))
		var b strings.Builder
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "```") {
				return lang, b.String(), true
			}
			b.WriteString(l)
		}
		return "", "", false
	}
	return "", "", false
}
