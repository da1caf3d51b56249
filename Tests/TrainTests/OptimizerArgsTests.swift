// optimizer_args parsing (both forms) and the optimizer-name mapping / construction with clear errors.

import XCTest

@testable import FlrTrain

final class OptimizerArgsTests: XCTestCase {
  func testShellFormAndSeedDictLiteralAgree() throws {
    let shell = try OptimizerArgs.parse("weight_decay=0.01 betas=0.9,0.999 eps=None use_bias_correction=true")
    let seed = try OptimizerArgs.parse(
      "{'weight_decay': 0.01, \"betas\": (0.9, 0.999), 'eps': None, 'use_bias_correction': True,}")
    XCTAssertEqual(shell, seed)
    XCTAssertEqual(shell["betas"], .tuple([0.9, 0.999]))
    XCTAssertEqual(shell["eps"], OptimizerArgValue.none)
    XCTAssertEqual(try OptimizerArgs.parse("{}"), OptimizerArgs())
    XCTAssertEqual(try OptimizerArgs.parse("  "), OptimizerArgs())
    XCTAssertEqual(try OptimizerArgs.parse("{'betas': [0.9, 0.99], 'd0': 1e-5}")["d0"], .number(1e-5))
  }

  func testMalformedArgumentsThrowClearly() {
    for bad in [
      "weight_decay", "weight_decay=", "betas=0.9,x", "{'a': 1", "{'a' 1}", "{'a': foo}", "{'a': 1} x",
      "lr=1 lr=2", "{'betas': (0.9, 'x')}",
    ] {
      XCTAssertThrowsError(try OptimizerArgs.parse(bad), bad) { error in
        XCTAssertTrue("\(error)".contains("optimizer_args"), "\(bad): \(error)")
      }
    }
  }

  func testNames() throws {
    XCTAssertEqual(try OptimizerKind(name: nil), .prodigy)  // the reference script's default
    XCTAssertEqual(try OptimizerKind(name: "AdamW"), .adamw)
    XCTAssertEqual(try OptimizerKind(name: "AdamW8bit"), .adamw8bit)
    XCTAssertEqual(try OptimizerKind(name: "ProdigyPlusScheduleFree"), .prodigy)
    XCTAssertEqual(try OptimizerKind(name: "prodigy-sf"), .prodigy)
    XCTAssertEqual(try OptimizerKind(name: "Flora"), .flora)
    XCTAssertThrowsError(try OptimizerKind(name: "Lion")) { XCTAssertTrue("\($0)".contains("Lion")) }
  }

  func testFactoryAppliesArgumentsAndRejectsUnknownKeys() throws {
    let tp = OptimTestParams(shapes: [[4, 8]], initial: [Array(repeating: 0.1, count: 32)])
    let made = try OptimizerFactory.make(
      kind: .adamw, params: tp.groups, args: try .parse("weight_decay=0.1 betas=0.8,0.9 lr=0.5"), learningRate: 1e-4)
    let adamw = try XCTUnwrap(made.optimizer as? AdamW)
    XCTAssertEqual(adamw.weightDecay, 0.1)
    XCTAssertEqual(adamw.beta1, 0.8)
    XCTAssertEqual(made.lr, 0.5)  // optimizer_args' lr wins, as {"lr": learning_rate, **optimizer_args}
    XCTAssertThrowsError(
      try OptimizerFactory.make(kind: .adamw, params: tp.groups, args: try .parse("d0=1e-5"), learningRate: 1e-4)
    ) { XCTAssertTrue("\($0)".contains("no argument 'd0'")) }
    XCTAssertThrowsError(
      try OptimizerFactory.make(kind: .prodigy, params: tp.groups, args: try .parse("use_focus=True"), learningRate: 1)
    ) { XCTAssertTrue("\($0)".contains("use_focus")) }
    XCTAssertThrowsError(
      try OptimizerFactory.make(kind: .adamw, params: tp.groups, args: try .parse("betas=0.9"), learningRate: 1)
    )
    XCTAssertThrowsError(
      try OptimizerFactory.make(
        kind: .flora, params: tp.groups, args: try .parse("relative_step=True"), learningRate: 1e-4)
    )
    XCTAssertNoThrow(
      try OptimizerFactory.make(
        kind: .flora, params: tp.groups, args: try .parse("relative_step=True lr=None"), learningRate: 1e-4))
  }

  func testProdigyWarnsAtTheSeedDefaultLR() throws {
    let tp = OptimTestParams(shapes: [[4, 8]], initial: [Array(repeating: 0.1, count: 32)])
    let seedDefault = try OptimizerFactory.make(
      kind: .prodigy, params: tp.groups, args: OptimizerArgs(), learningRate: 1e-4)
    XCTAssertEqual(seedDefault.warnings.count, 1)
    let p = try XCTUnwrap(seedDefault.optimizer as? ProdigyPlusScheduleFree)
    XCTAssertEqual(p.options.d0, 1e-6)
    XCTAssertEqual(p.options.version, .v1_9_0)  // the reference script's lock
    let v2 = try OptimizerFactory.make(
      kind: .prodigy, params: tp.groups, args: .parse("version=2.0.1 d_limiter=False"), learningRate: 1)
    let p2 = try XCTUnwrap(v2.optimizer as? ProdigyPlusScheduleFree)
    XCTAssertEqual(p2.options.version, .v2_0_1)
    XCTAssertFalse(p2.options.dLimiter)
    XCTAssertFalse(p2.options.splitGroupsMean)  // 2.0.1's default
    XCTAssertThrowsError(
      try OptimizerFactory.make(kind: .prodigy, params: tp.groups, args: .parse("d_limiter=False"), learningRate: 1))
    XCTAssertThrowsError(
      try OptimizerFactory.make(kind: .prodigy, params: tp.groups, args: .parse("version=3"), learningRate: 1))
    // A 1.9.0 state does not resume a 2.0.1 optimizer.
    XCTAssertThrowsError(try p2.loadState(p.saveState()))
    XCTAssertTrue(
      try OptimizerFactory.make(kind: .prodigy, params: tp.groups, args: .parse("d_coef=2"), learningRate: 1)
        .warnings.isEmpty)
  }
}
