package tornet

// Tail lets the external tests show a log's end the way Start's errors do.
var Tail = tail
