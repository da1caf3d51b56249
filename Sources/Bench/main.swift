// flr-bench: prints the figures the issues ask for (see `scripts/bench --help`).
//   flr-bench [suite...] [--threads N] [--since-last] [--torch FILE] [--quick] [--profile]
// --since-last prints each figure next to the previous run's (results are kept in .build/bench-results.json);
// --torch FILE adds PyTorch's times from FILE (written by `scripts/bench --compare`).
// --profile prints, after each figure, where one more run of it spends its time per op kind (ProfileTable.swift).
// Every figure is printed next to its limit: its FLOPs at the sgemm rate or its bytes at the memory bandwidth
// measured at the start of the run (Limits.swift), and the fraction of that limit its best time reaches.
import FlrCore
import Foundation

let usage = """
  usage: flr-bench [suite...] [--threads N] [--since-last] [--torch FILE] [--quick] [--profile] [--list]
  suites: \(allSuites.map(\.name).joined(separator: ", ")) (default: all)
  """

var selected: [String] = []
var compare = false
var arguments = CommandLine.arguments.dropFirst()
while let arg = arguments.popFirst() {
  switch arg {
  case "--threads":
    guard let n = arguments.popFirst().flatMap(Int.init), n > 0 else {
      print("flr-bench: --threads needs a positive number\n\(usage)")
      exit(2)
    }
    Threads.count = n
  case "--since-last": compare = true
  case "--torch":
    guard let path = arguments.popFirst(), let data = FileManager.default.contents(atPath: path),
      let times = try? JSONDecoder().decode([String: TorchTime].self, from: data)
    else {
      print("flr-bench: --torch needs a JSON file of PyTorch times (scripts/bench --compare writes it)")
      exit(2)
    }
    Bench.torch = times
  case "--quick": Bench.minSeconds = 0.05
  case "--profile": Bench.profiling = true
  case "--list":
    for s in allSuites { print(Bench.pad(s.name, 10) + s.summary) }
    exit(0)
  case "-h", "--help":
    print(usage)
    exit(0)
  default:
    guard allSuites.contains(where: { $0.name == arg }) else {
      print("flr-bench: unknown suite '\(arg)'\n\(usage)")
      exit(2)
    }
    selected.append(arg)
  }
}

let resultsURL = URL(fileURLWithPath: ".build/bench-results.json")
var stored: [String: BenchResult] = [:]
if let data = try? Data(contentsOf: resultsURL), let old = try? JSONDecoder().decode([BenchResult].self, from: data) {
  for r in old { stored[Bench.key(r)] = r }
}
if compare { Bench.previous = stored }

print("flr-bench: \(Threads.count) thread(s)")
_ = Limits.current  // measured once, before any figure
for suite in allSuites where selected.isEmpty || selected.contains(suite.name) {
  print("\n== \(suite.name): \(suite.summary)\n" + Bench.header)
  Bench.currentSuite = suite.name
  suite.run()
}

for r in Bench.results { stored[Bench.key(r)] = r }
if let data = try? JSONEncoder().encode(Array(stored.values)) {
  try? FileManager.default.createDirectory(
    at: resultsURL.deletingLastPathComponent(), withIntermediateDirectories: true)
  try? data.write(to: resultsURL)
}
