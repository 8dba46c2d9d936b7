// Parse Jenkinsfiles without running them and print what the AST holds, as JSON:
// method calls by name, the constant strings, GString (interpolated) expressions, the
// `NAME = 'value'` assignments of the environment block and the arguments of every `sh` step.
import groovy.json.JsonOutput
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.expr.ArgumentListExpression
import org.codehaus.groovy.ast.expr.BinaryExpression
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.GStringExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.VariableExpression
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

class Collector extends CodeVisitorSupport {
    List calls = []
    List strings = []
    Map assignments = [:]
    List sh = []
    int gstrings = 0

    void visitMethodCallExpression(MethodCallExpression call) {
        calls << call.methodAsString
        if (call.methodAsString == 'sh' && call.arguments instanceof ArgumentListExpression) {
            def first = call.arguments.expressions[0]
            sh << (first instanceof ConstantExpression ? first.value : null)
        }
        super.visitMethodCallExpression(call)
    }

    void visitConstantExpression(ConstantExpression expr) {
        if (expr.value instanceof String) {
            strings << expr.value
        }
        super.visitConstantExpression(expr)
    }

    void visitGStringExpression(GStringExpression expr) {
        gstrings++
        super.visitGStringExpression(expr)
    }

    void visitBinaryExpression(BinaryExpression expr) {
        if (expr.operation.text == '=' && expr.leftExpression instanceof VariableExpression
                && expr.rightExpression instanceof ConstantExpression) {
            assignments[expr.leftExpression.name] = expr.rightExpression.value
        }
        super.visitBinaryExpression(expr)
    }
}

Map out = [:]
args.each { String path ->
    CompilationUnit unit = new CompilationUnit()
    unit.addSource(new File(path))
    unit.compile(Phases.CONVERSION)
    Collector collector = new Collector()
    unit.AST.modules.each { module -> module.statementBlock.visit(collector) }
    out[path] = [calls: collector.calls, strings: collector.strings, gstrings: collector.gstrings,
                 assignments: collector.assignments, sh: collector.sh]
}
println JsonOutput.toJson(out)
