package main

// virtposFaults and onecFaults are armed through the fakes' fault knobs.
func virtposFaults(w *world, on bool) int { return 0 }

func onecFaults(w *world, on bool) int { return 0 }
