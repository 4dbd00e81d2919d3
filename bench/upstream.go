// A fast fake provider for the benchmarks: it replays answers recorded from the simulator in
// fast mode (bench/upstream.py records them), so that the gateway under test, not a Python
// upstream sharing its machine, is what the figures measure.
//
// Usage: upstream <answers.json> <port>. Each answer names its path and whether it is the
// streamed one; a JSON request body with "stream": true or "stream_format": "sse" takes the
// streamed answer.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
)

type answer struct {
	Path        string `json:"path"`
	Streamed    bool   `json:"streamed"`
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        []byte `json:"body"`
}

type key struct {
	path     string
	streamed bool
}

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: upstream <answers.json> <port>")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	var recorded []answer
	if err := json.Unmarshal(raw, &recorded); err != nil {
		log.Fatal(err)
	}
	answers := map[key]answer{}
	for _, a := range recorded {
		answers[key{a.Path, a.Streamed}] = a
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		a, found := answers[key{r.URL.Path, wantsStream(r)}]
		if !found {
			http.Error(w, `{"error":{"message":"no recorded answer","type":"not_found"}}`, 404)
			return
		}
		w.Header().Set("Content-Type", a.ContentType)
		w.WriteHeader(a.Status)
		w.Write(a.Body)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[2], http.HandlerFunc(handler)))
}

func wantsStream(r *http.Request) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		r.ParseMultipartForm(32 << 20)
		return r.FormValue("stream") == "true"
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return false
	}
	return body["stream"] == true || body["stream_format"] == "sse"
}
