// What pgjdbc's DatabaseMetaData and ResultSetMetaData say about the tool-test schema
// (cli/src/tools/schema.ts). Prints one section per call: "== call", the result set's column
// labels, then one tab-separated line per row. jdbc-metadata.e2e.test.ts runs it against
// PostgreSQL 15 and against Stratum and compares the two printouts.
// Usage: java -cp postgresql.jar JdbcMetadata.java PORT
import java.sql.*;

public class JdbcMetadata {
  static void print(String call, ResultSet rs) throws SQLException {
    System.out.println("== " + call);
    ResultSetMetaData md = rs.getMetaData();
    StringBuilder head = new StringBuilder();
    for (int i = 1; i <= md.getColumnCount(); i++) head.append(i > 1 ? "\t" : "").append(md.getColumnLabel(i));
    System.out.println(head);
    while (rs.next()) {
      StringBuilder row = new StringBuilder();
      for (int i = 1; i <= md.getColumnCount(); i++) row.append(i > 1 ? "\t" : "").append(rs.getString(i));
      System.out.println(row);
    }
    rs.close();
  }

  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/stratum";
    try (Connection c = DriverManager.getConnection(url, "stratum", "")) {
      DatabaseMetaData md = c.getMetaData();
      print("getTables(null, public, %, null)", md.getTables(null, "public", "%", null));
      print("getTables(null, null, %, [TABLE, VIEW])", md.getTables(null, null, "%", new String[] {"TABLE", "VIEW"}));
      print("getColumns(null, public, %, %)", md.getColumns(null, "public", "%", "%"));
      for (String t : new String[] {"customers", "orders"}) {
        print("getPrimaryKeys(null, public, " + t + ")", md.getPrimaryKeys(null, "public", t));
        print("getIndexInfo(null, public, " + t + ", false, false)", md.getIndexInfo(null, "public", t, false, false));
        print("getIndexInfo(null, public, " + t + ", true, true)", md.getIndexInfo(null, "public", t, true, true));
        print("getImportedKeys(null, public, " + t + ")", md.getImportedKeys(null, "public", t));
        print("getExportedKeys(null, public, " + t + ")", md.getExportedKeys(null, "public", t));
      }
      print("getTypeInfo()", md.getTypeInfo());

      String[] queries = {
        "SELECT o.id, c.email, o.amount, o.placed_at, o.tags, c.id + 1 AS next_id FROM orders o JOIN customers c ON c.id = o.customer_id",
        "SELECT * FROM big_orders",
      };
      for (String q : queries) {
        System.out.println("== ResultSetMetaData of " + q);
        try (PreparedStatement p = c.prepareStatement(q); ResultSet rs = p.executeQuery()) {
          ResultSetMetaData r = rs.getMetaData();
          System.out.println("label\tname\ttable\tschema\ttype\ttypeName\tprecision\tscale\tnullable\tautoIncrement\tclass");
          for (int i = 1; i <= r.getColumnCount(); i++) {
            System.out.println(String.join("\t",
                r.getColumnLabel(i), r.getColumnName(i), r.getTableName(i), r.getSchemaName(i),
                String.valueOf(r.getColumnType(i)), r.getColumnTypeName(i), String.valueOf(r.getPrecision(i)),
                String.valueOf(r.getScale(i)), String.valueOf(r.isNullable(i)), String.valueOf(r.isAutoIncrement(i)),
                r.getColumnClassName(i)));
          }
        }
      }
    }
  }
}
