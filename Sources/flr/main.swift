// flr: a resident shell for Florence-2. Everything is in FlrShell; this only hands over argv.
import FlrShell
import Foundation

exit(FlrMain.run(CommandLine.arguments))
