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
	block, ok := firstGoBlock(string(readme))
	if !ok {
		t.Fatal("README.md has no go code block")
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
			t.Fatalf("README.md's first go code block differs from example_readme_test.go at line %d:\nREADME: %q\nfile:   %q\n(copy the file into the README)", i+1, g, w)
		}
	}
}

// firstGoBlock returns the text of the first fenced go code block of a
// Markdown document (the shell commands for a fresh machine come before it).
func firstGoBlock(md string) (body string, ok bool) {
	lines := strings.SplitAfter(md, "\n")
	inBlock, isGo := false, false
	var b strings.Builder
	for _, l := range lines {
		if !strings.HasPrefix(l, "```") {
			if inBlock && isGo {
				b.WriteString(l)
			}
			continue
		}
		if inBlock {
			if isGo {
				return b.String(), true
			}
			inBlock = false
			continue
		}
		inBlock, isGo = true, strings.TrimSpace(strings.TrimPrefix(l, "```")) == "go"
	}
	return "", false
}
