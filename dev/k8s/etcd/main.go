// Command etcd is etcd 3.6 built from the Go module proxy: Debian's etcd-server (3.4) is too old
// for the watch features of a recent kube-apiserver, and etcd's own go.mod carries local replace
// directives, so `go install` of its server package is not possible. This wrapper runs the same
// entry point as the upstream binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
