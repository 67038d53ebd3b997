service Real {}
