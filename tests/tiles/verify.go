// An independent tlog client: Go's own golang.org/x/mod/sumdb/{note,tlog} (the code the Go
// checksum database uses) reading exhibit's log as C2SP tlog-tiles over HTTP.
//
// Usage: [EXHIBIT_CHECKPOINT=FILE] verify BASE_URL VERIFIER_KEY MANIFESTS_FILE [OLD_CHECKPOINT_FILE]
//
// It verifies the checkpoint's signature, then for the i-th manifest listed (one path per line,
// in log order) proves and checks its inclusion as leaf i through tiles it downloads, and, given
// an older checkpoint, proves and checks that the tree only grew. Prints "ok N" or fails.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type tileServer struct{ base string }

func (t tileServer) Height() int { return 8 }

func (t tileServer) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		// Go names tiles with their height (tile/8/L/N); C2SP tlog-tiles fixes it at 8 and drops it.
		path := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		data, err := get(t.base + "/" + path)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (t tileServer) SaveTiles([]tlog.Tile, [][]byte) {}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// The signed body of a C2SP checkpoint: origin, tree size, base64 root hash, extension lines.
func tree(text string) (tlog.Tree, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 {
		return tlog.Tree{}, fmt.Errorf("checkpoint body too short")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return tlog.Tree{}, err
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return tlog.Tree{}, err
	}
	return tlog.Tree{N: n, Hash: h}, nil
}

func open(msg []byte, vkey string) (tlog.Tree, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return tlog.Tree{}, err
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return tlog.Tree{}, err
	}
	return tree(n.Text)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: verify BASE_URL VERIFIER_KEY MANIFESTS_FILE [OLD_CHECKPOINT_FILE]")
	}
	base, vkey := os.Args[1], os.Args[2]
	// A client holding an older checkpoint (EXHIBIT_CHECKPOINT names its file) asks for the
	// tiles of its own tree size.
	var cp []byte
	var err error
	if held := os.Getenv("EXHIBIT_CHECKPOINT"); held != "" {
		cp, err = os.ReadFile(held)
	} else {
		cp, err = get(base + "/checkpoint")
	}
	if err != nil {
		fail("checkpoint: %v", err)
	}
	t, err := open(cp, vkey)
	if err != nil {
		fail("checkpoint: %v", err)
	}
	r := tlog.TileHashReader(t, tileServer{base})
	th, err := tlog.TreeHash(t.N, r)
	if err != nil || th != t.Hash {
		fail("tree hash from tiles: %v", err)
	}
	f, err := os.Open(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	sc := bufio.NewScanner(f)
	var i int64
	for sc.Scan() {
		data, err := os.ReadFile(sc.Text())
		if err != nil {
			fail("%v", err)
		}
		p, err := tlog.ProveRecord(t.N, i, r)
		if err != nil {
			fail("prove leaf %d: %v", i, err)
		}
		if err := tlog.CheckRecord(p, t.N, t.Hash, i, tlog.RecordHash(data)); err != nil {
			fail("leaf %d (%s): %v", i, sc.Text(), err)
		}
		i++
	}
	if i != t.N {
		fail("checked %d leaves of a tree of %d", i, t.N)
	}
	if len(os.Args) > 4 {
		old, err := os.ReadFile(os.Args[4])
		if err != nil {
			fail("%v", err)
		}
		ot, err := open(old, vkey)
		if err != nil {
			fail("old checkpoint: %v", err)
		}
		p, err := tlog.ProveTree(t.N, ot.N, r)
		if err != nil {
			fail("prove consistency: %v", err)
		}
		if err := tlog.CheckTree(p, t.N, t.Hash, ot.N, ot.Hash); err != nil {
			fail("consistency %d -> %d: %v", ot.N, t.N, err)
		}
	}
	fmt.Printf("ok %d\n", t.N)
}
