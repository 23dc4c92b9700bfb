// Run once by the official mongo image on an empty data directory (docker-entrypoint-initdb.d).
// One user per service, allowed to read and write its own database only: the attendance service
// cannot touch the certificates database. Passwords come from the container's environment.
for (const service of ["enrollment", "attendance", "certificates"]) {
  const password = process.env[`MONGO_${service.toUpperCase()}_PASSWORD`];
  if (!password) throw new Error(`MONGO_${service.toUpperCase()}_PASSWORD is not set`);
  db.getSiblingDB(service).createUser({
    user: service,
    pwd: password,
    roles: [{ role: "readWrite", db: service }],
  });
}
