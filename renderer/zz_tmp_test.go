package renderer

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

func TestZZGen(t *testing.T) {
	var b bytes.Buffer
	json.Indent(&b, Sample(RequestCreated, 0), "", "  ")
	os.WriteFile("/tmp/sample0.json", b.Bytes(), 0o644)
	t.Log(len(Sample(RequestCreated, 0)))
}
