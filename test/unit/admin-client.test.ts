import t from 'tap';
import { join } from 'node:path';
import { parseAdminAddress } from '../../src/admin/client.js';
import { Issues, listenAddress } from '../../src/config/checks.js';

t.test('wakegate status --admin takes exactly what admin.listen takes, with the same messages', async (t) => {
  for (const text of ['127.0.0.1:9090', '[::1]:9090', 'localhost:9090', ':9090', 'unix:/run/wakegate/admin.sock']) {
    t.same(parseAdminAddress(text), listenAddress(new Issues(), text, 'admin.listen', process.cwd()), text);
  }
  t.same(parseAdminAddress('[::1]:9090'), { kind: 'tcp', host: '::1', port: 9090 });
  t.same(parseAdminAddress('unix:admin.sock'), { kind: 'unix', path: join(process.cwd(), 'admin.sock') }, 'relative to the working directory');
  t.throws(() => parseAdminAddress('::1:9090'), { message: /^--admin: expected an address like .* \(IPv6 addresses need brackets, like "\[::1\]:8080"\)$/ });
  t.throws(() => parseAdminAddress('localhost:99999'), { message: '--admin: port must be from 0 to 65535, got "localhost:99999"' });
  t.throws(() => parseAdminAddress('[::g]:1'), { message: '--admin: expected an IPv6 address inside [], got "[::g]:1"' });
  t.throws(() => parseAdminAddress('unix:'), { message: /^--admin: expected a path/ });
});
