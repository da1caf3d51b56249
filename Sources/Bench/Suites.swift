// Every benchmark suite, in the order `flr-bench` runs them with no arguments. One line per suite.
let allSuites: [BenchSuite] = [
  gemmSuite,
  opsSuite,
  modelSuite,
  modelLargeSuite,
  modelNF4Suite,
  precisionSuite,
  precisionDumpSuite,
  trainNF4Suite,
  tokenizerSuite,
  decodeProductsSuite,
  generateSuite,
  decodeStepSuite,
  captionFolderSuite,
  optimSuite,
  trainStepSuite,
  trainEpochSuite,
]
