"""The shell: all I/O (Neutron API, files, threads, clocks) around the pure core."""
