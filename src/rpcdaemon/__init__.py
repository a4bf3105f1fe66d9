"""rpcdaemon: keeps OpenStack Neutron's DHCP networks and routers on live agents.

The successor of Rackspace's rpcdaemon: the same config file and command line, a pure planning core, and a shell
that reads the truth from the Neutron API on every pass before it acts.
"""

__version__ = "2.0.0.dev0"
