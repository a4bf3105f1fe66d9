"""An emulated Neutron API for the demo, the tests and the benchmarks (no OpenStack needed)."""
