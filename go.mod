module github.com/hashike/hashike

go 1.26.0
