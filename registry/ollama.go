package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/store"
)

// ollamaName is the store name an Ollama-registry pull is installed under:
// models from ollama.com keep the short form ("llama3.2:1b",
// "me/model:tag") so `ferry run llama3.2:1b` finds them as Ollama's own
// CLI would; other registries keep their host.
func (r Ref) ollamaName() string {
	name := r.Repo + ":" + r.Tag
	if r.Namespace != store.DefaultNamespace || !isOllamaHost(r.Host) {
		name = r.Namespace + "/" + name
	}
	if !isOllamaHost(r.Host) {
		name = r.Host + "/" + name
	}
	return name
}

func (c *client) ollamaBaseFor(r Ref) string {
	if isOllamaHost(r.Host) {
		return c.ollamaBase
	}
	return "https://" + r.Host
}

// pullOllama fetches a manifest and its blobs the way `ollama pull` does.
func (c *client) pullOllama(ctx context.Context, r Ref) (*Result, error) {
	base := c.ollamaBaseFor(r)
	name := r.ollamaName()
	c.progress(Progress{Status: "pulling manifest"})
	hdr := http.Header{"Accept": {store.MediaManifest}}
	var mf store.Manifest
	url := fmt.Sprintf("%s/v2/%s/%s/manifests/%s", base, r.Namespace, r.Repo, r.Tag)
	if _, err := c.getJSON(ctx, url, hdr, "manifest of "+name, &mf); err != nil {
		switch statusOf(err) {
		case http.StatusNotFound:
			return nil, fmt.Errorf("pull %s: not in the registry at %s: %w", name, base, store.ErrNotFound)
		case http.StatusUnauthorized, http.StatusForbidden:
			return nil, fmt.Errorf("pull %s: the registry refused access (%v)", name, err)
		}
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	if len(mf.Layers) == 0 {
		return nil, fmt.Errorf("pull %s: the manifest lists no layers", name)
	}
	layers := append([]store.Layer(nil), mf.Layers...)
	if mf.Config.Digest != "" {
		layers = append(layers, mf.Config)
	}
	res := &Result{Name: name, Format: "gguf"}
	hasModel := false
	for _, l := range layers {
		bp, err := c.st.BlobPath(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("pull %s: manifest layer %s: %v", name, l.MediaType, err)
		}
		if l.Size < 0 {
			return nil, fmt.Errorf("pull %s: manifest layer %s has negative size %d", name, l.Digest, l.Size)
		}
		hexd := strings.ToLower(l.Digest[len("sha256:"):])
		digest := "sha256:" + hexd
		status := "pulling " + hexd[:12]
		c.progress(Progress{Status: status, Digest: digest, Total: l.Size})
		_, err = c.download(ctx, fileSpec{
			url:    fmt.Sprintf("%s/v2/%s/%s/blobs/%s", base, r.Namespace, r.Repo, digest),
			dst:    bp,
			sha256: hexd,
			size:   l.Size,
			label:  "blob " + digest,
		}, func(done, total int64) {
			c.progress(Progress{Status: status, Digest: digest, Total: total, Completed: done})
		})
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", name, err)
		}
		res.Files++
		res.Bytes += l.Size
		if l.MediaType == store.MediaModel {
			hasModel = true
		}
	}
	if !hasModel {
		return nil, fmt.Errorf("pull %s: the manifest has no %s layer", name, store.MediaModel)
	}
	// Every blob was verified as it landed; this step mirrors Ollama's
	// stream so clients that wait for it see it.
	c.progress(Progress{Status: "verifying sha256 digest"})
	c.progress(Progress{Status: "writing manifest"})
	if mf.SchemaVersion == 0 {
		mf.SchemaVersion = 2
	}
	if mf.MediaType == "" {
		mf.MediaType = store.MediaManifest
	}
	if err := c.st.WriteManifest(name, &mf); err != nil {
		return nil, fmt.Errorf("pull %s: writing manifest: %w", name, err)
	}
	m, err := c.st.Get(name)
	if err != nil {
		return nil, fmt.Errorf("pull %s: installed, but the store cannot read it back: %w", name, err)
	}
	res.Path = m.Path
	c.progress(Progress{Status: "success"})
	return res, nil
}
