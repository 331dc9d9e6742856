package static

import (
	"embed"
	"io/fs"
)

//go:generate go run ./internal/fontgen -o site/font/frontgate.ttf

//go:embed site
var siteFiles embed.FS

// Site is the embedded demo site: index.html, css/, font/. Paths inside are relative to the site root.
var Site fs.FS = func() fs.FS {
	sub, err := fs.Sub(siteFiles, "site") // cannot fail: "site" is a valid, embedded directory name
	if err != nil {
		panic(err)
	}
	return sub
}()
