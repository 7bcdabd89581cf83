package loadgen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// k8sObjects reads a multi-document Kubernetes manifest by kind/name.
func k8sObjects(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			break
		}
		md := o["metadata"].(map[string]any)
		out[o["kind"].(string)+"/"+md["name"].(string)] = o
	}
	return out
}

func dig(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			o = o.(map[string]any)[k]
		case int:
			o = o.([]any)[k]
		}
	}
	return o
}

// TestKubernetesLoadJob: the Indexed Job's load generator command line is
// one bench load accepts, aimed at the tlslpd Service, reading the files
// its Secret provides and writing --out into the shared volume.
func TestKubernetesLoadJob(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "kubernetes")
	objs := k8sObjects(t, filepath.Join(dir, "loadgen-job.yaml"))
	job := objs["Job/tlslpd-loadgen"]
	require.NotNil(t, job)
	assert.Equal(t, "Indexed", dig(job, "spec", "completionMode"))
	pod := dig(job, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	var args []string
	for _, a := range dig(c, "args").([]any) {
		args = append(args, strings.ReplaceAll(a.(string), "$(INDEX)", "3"))
	}
	require.Equal(t, []string{"bench", "load"}, args[:2])
	o, _, err := parseFlags(args[2:])
	require.NoError(t, err, "bench load accepts the Job's flags")
	assert.Equal(t, "/results/loadgen-3.hlog", o.out, "one results file per index")
	assert.Positive(t, o.cfg.Duration, "bounded")
	assert.Contains(t, dig(c, "env", 0, "valueFrom", "fieldRef", "fieldPath"), "job-completion-index")

	// The host is the Service of the tlslpd manifest, on its port.
	server := k8sObjects(t, filepath.Join(dir, "tlslpd.yaml"))
	svc := server["Service/"+o.cfg.Host]
	require.NotNil(t, svc, "no Service %q in tlslpd.yaml", o.cfg.Host)
	assert.Equal(t, o.cfg.Port, dig(svc, "spec", "ports", 0, "port"))

	// The certificate flags name files of the mounted Secret.
	mounts := map[string]string{}
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounts[dig(m, "name").(string)] = dig(m, "mountPath").(string)
	}
	var items []string
	for _, v := range dig(pod, "volumes").([]any) {
		if dig(v, "name") == "tls" {
			for _, it := range dig(v, "secret", "items").([]any) {
				items = append(items, filepath.Join(mounts["tls"], dig(it, "path").(string)))
			}
		}
	}
	assert.ElementsMatch(t, []string{o.cert, o.key, o.ca}, items)
	assert.True(t, strings.HasPrefix(o.out, mounts["results"]+"/"), "--out on the results volume")
	assert.Equal(t, "ReadWriteMany", dig(objs["PersistentVolumeClaim/tlslpd-loadgen-results"], "spec", "accessModes", 0))
}
