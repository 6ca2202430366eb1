"""The local stack: moto's server, the HTTP API emulator and the local function invoker."""
