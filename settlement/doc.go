// Package settlement will pay node operators on TRON (USDT-TRC20 through
// gotron-sdk) from the credits the data chain accounts, idempotently: no
// payout is ever sent twice. Tests run against a local stand-in that
// verifies what a TRON node verifies, named as such.
package settlement
